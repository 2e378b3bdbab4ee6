# file-manager of stacks/federated-imputation.yml: the lab's FastAPI app on port 8004, with
# /app/uploads owned by the app user (a new named volume mounted there takes this owner).
FROM fedgen-lab/fastapi-app:1
USER root
RUN install -d -o app -g app /app/uploads
USER app
ENV PORT=8004
EXPOSE 8004
