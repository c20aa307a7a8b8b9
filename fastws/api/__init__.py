"""The WebSocket API: signed requests, trading, account and user data (one package, imports
pointing down).

Layers, each importing only those below it:

- :mod:`fastws.api._limits` (compiled, pure): rate-limit windows, the integer price/qty grids,
  the signing payload.
- :mod:`fastws.api._hmac` (compiled, pure): HMAC-SHA256 keyed once.
- :mod:`fastws.api.signing`: signers (HMAC, RSA, Ed25519), the signing payload, the server
  clock estimate.
- :mod:`fastws.api._answers` (compiled, pure): the answer scanner, the flat decoder, the
  success accounting.
- :mod:`fastws.api.protocol` (sans-I/O): request ids, frames, error mapping, rate-limit
  decisions.
- :mod:`fastws.api._session` (compiled, the only I/O): the picows listener, the
  :class:`~fastws.api._session.Session` (one submit, one wait, one account) and the request
  path.
- :mod:`fastws.api._orders` (compiled): the order writer and the order fast path.
- :mod:`fastws.api.client`: :class:`~fastws.api.client.ApiClient` (connection, reconnect,
  clock, bans).
- :mod:`fastws.api.base_operations`, :mod:`fastws.api.order_stream`,
  :mod:`fastws.api.user_events`, :mod:`fastws.api.user_stream`: the public WS API classes.

The package itself imports nothing: ``import fastws.api.signing`` loads only what signing needs.
"""
