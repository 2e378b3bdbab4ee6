# fedgen-lab/prometheus:2, like prom/prometheus (prometheus/prometheus Dockerfile, on
# quay.io/prometheus/busybox) on Debian's own prometheus. Differences that could not be avoided:
# - Prometheus is Debian bookworm's 2.42, not 2.53, with the web UI Debian builds (the classic one);
# - /bin/prometheus is Debian's binary (/bin is /usr/bin in bookworm); the consoles are Debian's,
#   in /etc/prometheus, linked from /usr/share/prometheus (upstream links the other way);
# - the base is Debian, not busybox: busybox applets (wget, nc, ...) are linked in /usr/bin as the
#   busybox image has them, sh is dash; bash and python3 are removed (busybox has neither).
FROM fedgen-lab/bookworm:1

COPY lab-setup /usr/local/bin/
RUN set -eux; \
	lab-setup prune busybox prometheus; \
	lab-setup busybox-links; \
	rm /usr/local/bin/lab-setup; \
	mkdir -p /usr/share/prometheus /prometheus; \
	ln -s /etc/prometheus/console_libraries /etc/prometheus/consoles /usr/share/prometheus/; \
	/bin/prometheus --version; \
	wget --help 2>&1 | grep -q BusyBox

# upstream's documentation/examples/prometheus.yml
COPY prometheus.yml /etc/prometheus/prometheus.yml

WORKDIR /prometheus
RUN chown -R nobody:nogroup /etc/prometheus /prometheus

USER       nobody
EXPOSE     9090
VOLUME     [ "/prometheus" ]
ENTRYPOINT [ "/bin/prometheus" ]
CMD        [ "--config.file=/etc/prometheus/prometheus.yml", \
             "--storage.tsdb.path=/prometheus", \
             "--web.console.libraries=/usr/share/prometheus/console_libraries", \
             "--web.console.templates=/usr/share/prometheus/consoles" ]
