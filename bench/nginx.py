"""nginx as the reference reverse proxy: one worker process, keep-alive connections to the
upstream (as the gateway's ERP client keeps them), no access log, everything in a private
directory.

Not how nginx is found or installed (see `bench.debian`).
"""

from __future__ import annotations

import os
from pathlib import Path

UPSTREAM_KEEPALIVE = 32  # idle upstream connections kept, as the gateway's pool holds 32

_CONFIG = """
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream erp {{
    server 127.0.0.1:{upstream_port};
    keepalive {keepalive};
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://erp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def nginx_command(nginx: str, directory: Path, port: int, upstream_port: int) -> list[str]:
    """The command that runs nginx in the foreground on `port`, proxying to `upstream_port`;
    its configuration, pid and error log are written into `directory`."""
    config = directory / "nginx.conf"
    # As root, its worker would run as nobody, who cannot write in the bench's private dir.
    user = "user root root;" if os.geteuid() == 0 else ""
    config.write_text(
        _CONFIG.format(
            user=user,
            dir=directory,
            port=port,
            upstream_port=upstream_port,
            keepalive=UPSTREAM_KEEPALIVE,
        )
    )
    return [nginx, "-p", str(directory), "-c", str(config)]
