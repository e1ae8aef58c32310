#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A real HTTP backend for demos and tests: nginx in a namespace of the
# topology, serving "/" (one line: the backend's name), "/big" (a large
# file, sparse) and "/health" (200, or 503 while DIR/www/sick exists) from
# DIR, taking PUT /upload (stored as DIR/www/upload), listening on every
# address (so on the VIPs too). DIR/access.log: "CLIENT_ADDR CLIENT_PORT
# LOCAL_PORT STATUS" per request, the client as the backend sees it.
#
#   nginx-backend.sh start PREFIX HOST DIR [NAME] [PORT]
#   nginx-backend.sh stop  DIR
set -euo pipefail

case ${1:-} in
start)
	prefix=$2 host=$3 dir=$4 name=${5:-$3} port=${6:-80}
	mkdir -p "$dir/www" "$dir/tmp"
	echo "$name" >"$dir/www/index.html"
	[ -e "$dir/www/big" ] || truncate -s 300M "$dir/www/big"
	cat >"$dir/nginx.conf" <<-CONF
		user root;
		daemon on;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log;
		events { worker_connections 4096; }
		http {
			log_format peer '\$remote_addr \$remote_port \$server_port \$status';
			access_log $dir/access.log peer;
			client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp;
			fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
			keepalive_timeout 0;
			server {
				listen $port reuseport; listen [::]:$port reuseport;
				root $dir/www;
				location / { }
				location = /upload { dav_methods PUT; client_max_body_size 0; }
				location = /health {
					if (-f $dir/www/sick) { return 503; }
					return 200 "ok\n";
				}
			}
		}
	CONF
	nsenter --net="/run/netns/$prefix-$host" nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log"
	;;
stop)
	dir=$2
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
	;;
*)
	echo "usage: nginx-backend.sh start PREFIX HOST DIR [NAME] [PORT] | stop DIR" >&2
	exit 2
	;;
esac
