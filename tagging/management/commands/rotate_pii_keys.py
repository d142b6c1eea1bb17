"""Re-encrypt every PII column under the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first, deploy, run this command, then drop the old key.
"""

import json

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from tagging.models import Customer
from workbench.pii import rotate

CHUNK = 5000


class Command(BaseCommand):
    help = "Re-encrypt customer PII under the newest key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        table = connection.ops.quote_name(Customer._meta.db_table)
        last_id, rotated = 0, 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                # Raw ciphertext is read and written directly: decrypting into the model and back is
                # the same work twice.
                cursor.execute(
                    f"SELECT id, mobile, id_number FROM {table} WHERE id > %s ORDER BY id LIMIT %s",
                    [last_id, CHUNK],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                updates = [
                    (rotate(mobile) if mobile else "", rotate(id_number) if id_number else "", pk)
                    for pk, mobile, id_number in rows
                ]
                cursor.executemany(f"UPDATE {table} SET mobile = %s, id_number = %s WHERE id = %s", updates)
            last_id = rows[-1][0]
            rotated += len(rows)
            self.stderr.write(f"re-encrypted {rotated} customers")
        self.stdout.write(json.dumps({"customers_reencrypted": rotated}))
