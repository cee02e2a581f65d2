"""Real intermediaries in the path: nginx with the configurations that break (or fix) SSE.

- :mod:`.nginx` -- the route files (``nginx-conf/routes/*.conf``: one ``location`` body per
  configuration, shared by the native run and ``docker-compose.yml``), the ``server`` blocks
  that use them, and a running nginx (started the one way faultproxy starts nginx,
  :class:`faultproxy.bench.peers.NginxPeer`);
- :mod:`.probe` -- one stream read as a client reads it, with the time of every read, and the
  shape of its arrival measured against the server's send times;
- :mod:`.repro` -- the cases of ``faultproxy repro nginx``: each route with the upstream that
  shows it, real nginx beside faultproxy's emulation (``buffer`` presets, ``gzip``,
  ``close_delimited``, ``read_timeout``); :mod:`.table` draws the comparison;
- :mod:`.docker_run` -- the same topology from ``docker-compose.yml`` through the Docker SDK.

``docs/nginx.md`` explains what each route shows and why.
"""
