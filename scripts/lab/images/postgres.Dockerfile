# fedgen-lab/postgres:15, like postgres:15-bookworm (docker-library/postgres 15/bookworm/Dockerfile,
# kept as ../shared/lab/postgres-15-bookworm/Dockerfile.upstream) on Debian's own postgresql-15.
# Differences that could not be avoided:
# - PostgreSQL is Debian bookworm's 15.x, not the PGDG build (same Debian package layout);
# - LANG is C.UTF-8, not en_US.utf8: minbase has no locales package, so databases get C.UTF-8;
# - no less, xz-utils, zstd or gnupg; gosu is Debian's (/usr/sbin, linked from /usr/local/bin);
# - the base's python3, busybox and other servers are removed (lab-setup prune), so probes behave
#   as in the official image; files of those packages stay in the lower layer.
FROM fedgen-lab/bookworm:1

# no cluster of Debian's own (upstream sets create_main_cluster = false before installing); the
# postgres user is 999:999 as upstream (Debian's package made it with another uid); gosu where
# upstream has it; the base's other servers and tools removed (see lab-setup)
COPY lab-setup /usr/local/bin/
RUN set -eux; \
	sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf; \
	rm -rf /etc/postgresql/15 /var/lib/postgresql/15 /var/log/postgresql/*; \
	lab-setup user postgres 999; \
	lab-setup prune bash psql; \
	rm /usr/local/bin/lab-setup; \
	install --directory --owner postgres --group postgres --mode 1777 /var/lib/postgresql; \
	ln -s /usr/sbin/gosu /usr/local/bin/gosu; \
	gosu nobody true

RUN mkdir /docker-entrypoint-initdb.d

ENV PG_MAJOR=15
ENV PATH=$PATH:/usr/lib/postgresql/$PG_MAJOR/bin
ENV LANG=C.UTF-8
RUN postgres --version

# make the sample config easier to munge (and "correct by default"), as upstream
RUN set -eux; \
	dpkg-divert --add --rename --divert "/usr/share/postgresql/postgresql.conf.sample.dpkg" "/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"; \
	cp -v /usr/share/postgresql/postgresql.conf.sample.dpkg /usr/share/postgresql/postgresql.conf.sample; \
	ln -sv ../postgresql.conf.sample "/usr/share/postgresql/$PG_MAJOR/"; \
	sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" /usr/share/postgresql/postgresql.conf.sample; \
	grep -F "listen_addresses = '*'" /usr/share/postgresql/postgresql.conf.sample

RUN install --verbose --directory --owner postgres --group postgres --mode 3777 /var/run/postgresql

ENV PGDATA=/var/lib/postgresql/data
# this 1777 will be replaced by 0700 at runtime (allows semi-arbitrary "--user" values)
RUN install --verbose --directory --owner postgres --group postgres --mode 1777 "$PGDATA"
VOLUME /var/lib/postgresql/data

# the official scripts, unchanged (copied into the build context from ../shared/lab)
COPY docker-entrypoint.sh docker-ensure-initdb.sh /usr/local/bin/
RUN ln -sT docker-ensure-initdb.sh /usr/local/bin/docker-enforce-initdb.sh
ENTRYPOINT ["docker-entrypoint.sh"]

STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
