"""Networking plumbing shared by the product and the teaching package: parsing the addresses
users type, and the asyncio stream-server base the built-in servers run on.

Neutral ground: the proxy, the servers and the control API use it, and so does ``lab/`` (which
product code never imports).
"""
