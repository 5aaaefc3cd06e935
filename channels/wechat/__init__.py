"""The WeChat Official Account (公众号) channel: webhook `/wechat`, simulator `/wechat-sim`.

Like Rasa's own `rasa/core/channels/*.py`: verify (signature, timestamp, safe-mode crypto) →
parse inbound (XML through defusedxml) → hand to the core (`ChatService`) → render outbound
(one text message; buttons become numbered lines, and a reply with the number picks one).

The protocol layer is written here on defusedxml + cryptography rather than taken from
wechatpy: wechatpy's API client is synchronous (requests) and would block the gateway's event
loop, its XML goes through xmltodict rather than defusedxml, and its last release is from 2021;
the part we need (SHA-1 signatures, AES-CBC envelope, a handful of JSON calls) is small.
"""
