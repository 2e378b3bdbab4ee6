# fedgen-lab/redis:7, like redis:7.2-debian (docker-library/redis 7.2/debian/Dockerfile, kept as
# ../shared/lab/redis-7.2-debian/Dockerfile.upstream) on Debian's own redis-server.
# Differences that could not be avoided:
# - Redis is Debian bookworm's 7.0.x, not 7.2 (no registry, no compiler);
# - the official build compiles protected mode off; Debian's binary keeps it on (it would refuse
#   other containers), so /usr/local/bin/redis-server, first in PATH, adds `--protected-mode no`
#   (unless the command line sets it), which also overrides a config file's `protected-mode yes`;
# - redis-server, redis-cli and friends are in /usr/bin (plus the wrapper), not /usr/local/bin;
# - the base's python3, busybox and other servers are removed (lab-setup prune), so probes behave
#   as in the official image; files of those packages stay in the lower layer.
FROM fedgen-lab/bookworm:1

# the redis user is 999:999 as upstream (Debian's package made it with another uid); gosu where
# upstream has it; the base's other servers and tools removed (see lab-setup)
COPY lab-setup /usr/local/bin/
RUN set -eux; \
	lab-setup user redis 999; \
	lab-setup prune bash redis; \
	rm /usr/local/bin/lab-setup; \
	ln -s /usr/sbin/gosu /usr/local/bin/gosu; \
	gosu nobody true

COPY redis-server /usr/local/bin/redis-server
RUN set -eux; \
	redis-cli --version; \
	redis-server --version

RUN mkdir /data && chown redis:redis /data
VOLUME /data
WORKDIR /data

# the official script, unchanged (copied into the build context from ../shared/lab)
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]

EXPOSE 6379
CMD ["redis-server"]
