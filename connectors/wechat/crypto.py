"""WeChat's message encryption (消息加解密: 兼容模式 and 安全模式), as its technical solution
describes it:

- the AES key is Base64_Decode(EncodingAESKey + "="): 32 bytes, so AES-256, in CBC mode with the
  key's first 16 bytes as the IV and PKCS#7 padding to a multiple of 32 bytes;
- the plaintext is random(16 bytes) + msg_len (4 bytes, network order) + msg + appid, and
  `Encrypt` is its ciphertext in Base64;
- msg_signature = sha1 of the sorted, joined [token, timestamp, nonce, Encrypt];
- an encrypted passive reply is <xml> with Encrypt, MsgSignature, TimeStamp and Nonce.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from connectors.wechat.protocol import cdata, signature

BLOCK = 32  # WeChat pads to 32-byte blocks (not AES's 16)
KEY_CHARS = 43


class CryptoError(Exception):
    """An encrypted message that cannot be opened (a wrong key, appid or format)."""


class SignatureError(CryptoError):
    """`msg_signature` does not match the encrypted body."""


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey; ValueError if it is not one."""
    if len(encoding_aes_key) != KEY_CHARS or not encoding_aes_key.isascii():
        raise ValueError(f"must be {KEY_CHARS} characters (letters and digits)")
    if not encoding_aes_key.isalnum():
        raise ValueError("must be letters and digits only")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"is not Base64: {exc}") from None
    if len(key) != 32:
        raise ValueError("does not decode to a 32-byte key")
    return key


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return signature(token, timestamp, nonce, encrypt)


class MessageCrypto:
    """Opens WeChat's encrypted messages and seals the replies, for one Official Account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.app_id = app_id.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def decrypt(self, encrypt: str, signature: str, timestamp: str, nonce: str) -> bytes:
        """The message XML inside `encrypt`, after checking `msg_signature`."""
        expected = msg_signature(self.token, timestamp, nonce, encrypt)
        if not (signature and hmac.compare_digest(expected, signature.lower())):
            raise SignatureError("wrong or missing msg_signature")
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except binascii.Error:
            raise CryptoError("Encrypt is not Base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("Encrypt is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding: not encrypted with this EncodingAESKey")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CryptoError("the decrypted message is too short")
        (length,) = struct.unpack("!I", content[:4])
        if length > len(content) - 4:
            raise CryptoError("the decrypted message length is wrong")
        message, app_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(app_id, self.app_id):
            raise CryptoError("the message is for another appid")
        return message

    def encrypt(self, message: str) -> str:
        """`message` encrypted for WeChat: the Base64 `Encrypt` value."""
        body = message.encode()
        plain = os.urandom(16) + struct.pack("!I", len(body)) + body + self.app_id
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def reply(self, message: str, nonce: str, timestamp: str | None = None) -> str:
        """The encrypted passive reply carrying `message` (a reply XML)."""
        timestamp = timestamp or str(int(time.time()))
        encrypt = self.encrypt(message)
        signed = msg_signature(self.token, timestamp, nonce, encrypt)
        return (
            "<xml>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signed}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{cdata(nonce)}]]></Nonce>"
            "</xml>"
        )
