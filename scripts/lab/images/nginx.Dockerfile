# fedgen-lab/nginx:1, like nginx:1 (nginxinc/docker-nginx mainline/debian/Dockerfile, Debian based)
# on Debian's own nginx-light. Differences that could not be avoided:
# - nginx is Debian bookworm's 1.22 with Debian's modules, not nginx.org's 1.27 package;
# - /docker-entrypoint.sh is a short stand-in for upstream's: it runs /docker-entrypoint.d/ scripts,
#   but the image ships none of upstream's (no IPv6 listen, envsubst templates, worker tuning);
# - temp paths are moved to /var/cache/nginx in nginx.conf (upstream compiles them in);
# - the base's python3, busybox and other servers are removed (lab-setup prune); like upstream
#   there is no wget and no curl, so probes must use something else (bash /dev/tcp).
FROM fedgen-lab/bookworm:1

COPY lab-setup /usr/local/bin/
RUN set -eux; \
	lab-setup user nginx 101 --no-create-home --home-dir /nonexistent --comment "nginx user" --shell /bin/false; \
	lab-setup prune bash nginx; \
	rm /usr/local/bin/lab-setup; \
	rm -f /etc/nginx/sites-enabled/default; \
	mkdir -p /var/cache/nginx /docker-entrypoint.d; \
# forward request and error logs to docker log collector, as upstream
	ln -sf /dev/stdout /var/log/nginx/access.log; \
	ln -sf /dev/stderr /var/log/nginx/error.log; \
	! command -v wget curl

COPY nginx.conf /etc/nginx/nginx.conf
COPY default.conf /etc/nginx/conf.d/default.conf
COPY index.html 50x.html /usr/share/nginx/html/
COPY docker-entrypoint.sh /docker-entrypoint.sh
RUN nginx -t

ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
