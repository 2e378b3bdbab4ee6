# fedgen-lab/python:3.11-slim, like python:3.11-slim (docker-library/python 3.11/slim-bookworm) on
# Debian's own python3. Differences that could not be avoided:
# - Python is Debian bookworm's 3.11.2 in /usr/bin (linked as python and python3 from /usr/local/bin),
#   not 3.11.x built from source in /usr/local; no pip (install packages with pip on the host);
# - the base's busybox, servers and their tools are removed (lab-setup prune): like upstream there
#   is no curl, no wget, no nc, so probes must use python3 (urllib).
FROM fedgen-lab/bookworm:1

COPY lab-setup /usr/local/bin/
RUN set -eux; \
	lab-setup prune bash python3; \
	rm /usr/local/bin/lab-setup; \
	ln -s /usr/bin/python3 /usr/local/bin/python3; \
	ln -s /usr/bin/python3 /usr/local/bin/python; \
	python --version; \
	! command -v wget curl nc

ENV LANG=C.UTF-8
CMD ["python3"]
