# fedgen-lab/fastapi-app:1: the lab's FastAPI app (scripts/lab/fastapi-app/app.py) on the
# python:3.11-slim lookalike, its dependencies installed on the host with pip (requirements.txt).
FROM fedgen-lab/python:3.11-slim

RUN set -eux; \
	groupadd --gid 1000 app; \
	useradd --uid 1000 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY pydeps/ /opt/fedgen-lab/site-packages/
COPY app.py /app/app.py

ENV PYTHONPATH=/opt/fedgen-lab/site-packages
ENV PYTHONUNBUFFERED=1
ENV PORT=8000
WORKDIR /app
USER app
EXPOSE 8000
# app.py runs uvicorn on 0.0.0.0:$PORT
CMD ["python", "/app/app.py"]
