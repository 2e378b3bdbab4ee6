# fedgen-lab/caddy:2, like caddy:2-alpine (caddyserver/caddy-docker 2.8/alpine/Dockerfile) on
# Debian's own caddy. Differences that could not be avoided:
# - Caddy is Debian bookworm's 2.6, not 2.8, and the base is Debian, not alpine: sh is dash;
# - busybox applets (wget, nc, ...) are linked in /usr/bin as alpine has them; bash and python3
#   are removed (alpine has neither);
# - upstream declares no VOLUME for /data and /config (its docs say to mount them), and neither does
#   this image: a VOLUME would make anonymous volumes the official image does not.
FROM fedgen-lab/bookworm:1

COPY lab-setup /usr/local/bin/
RUN set -eux; \
	lab-setup prune busybox caddy; \
	lab-setup busybox-links; \
	rm /usr/local/bin/lab-setup; \
	mkdir -p /config/caddy /data/caddy /etc/caddy /usr/share/caddy; \
	setcap cap_net_bind_service=+ep /usr/bin/caddy; \
	caddy version; \
	wget --help 2>&1 | grep -q BusyBox

# upstream's default Caddyfile and welcome page come from caddyserver/dist, as Debian's do
COPY Caddyfile /etc/caddy/Caddyfile

# See https://caddyserver.com/docs/conventions#file-locations for details
ENV XDG_CONFIG_HOME=/config
ENV XDG_DATA_HOME=/data

EXPOSE 80
EXPOSE 443
EXPOSE 443/udp
EXPOSE 2019

WORKDIR /srv

CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
