"""Printed by `make demo` just before the processes start."""

import os

PORT = os.environ.get("PORT", "8000")
LOGINS = [
    ("admin", "总行运营管理员 head-office admin"),
    ("manager", "分行管理者 branch manager"),
    ("lead", "团队长 team lead"),
    ("operator", "客户经理 operator"),
    ("operator2", "客户经理 operator, another branch"),
    ("reviewer", "合规审核员 compliance reviewer"),
]

print()
print("=" * 64)
print(f"  直营工作台 demo:  http://127.0.0.1:{PORT}/")
print(f"  API docs:         http://127.0.0.1:{PORT}/api/docs/")
print("  WeCom sandbox:    http://127.0.0.1:8100/sandbox/  (what customers received)")
print("  Logins (password demo12345, demo only):")
for username, role in LOGINS:
    print(f"    {username:<10} {role}")
print("  Ctrl-C stops every process.")
print("=" * 64)
print()
