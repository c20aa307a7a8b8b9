"""Peer client adapters for bench/bench_peers.py (contract: one module per client)."""
ADAPTERS = ("python_binance", "python_binance_bigq", "binance_sdk_spot", "unicorn",
            "unicorn_picows", "unicorn_ldc", "cryptofeed_client", "ccxt_pro")
