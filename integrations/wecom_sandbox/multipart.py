"""multipart/form-data bodies (media uploads) read with the standard library's e-mail parser."""

from email import policy
from email.parser import BytesParser


def parse_multipart(raw: bytes, content_type: str) -> list[dict]:
    """The parts of a multipart/form-data body: [{name, filename, content_type, data}]."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw
    )
    if not message.is_multipart():
        return []
    return [
        {
            "name": part.get_param("name", header="content-disposition") or "",
            "filename": part.get_filename() or "",
            "content_type": part.get_content_type(),
            "data": part.get_payload(decode=True) or b"",
        }
        for part in message.iter_parts()
    ]
