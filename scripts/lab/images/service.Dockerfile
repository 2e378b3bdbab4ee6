# One service of stacks/federated-imputation.yml: the lab's FastAPI app on the service's port.
# (The ARG is not named PORT: the parent's ENV PORT would win over an ARG of the same name.)
FROM fedgen-lab/fastapi-app:1
ARG SERVICE_PORT
ENV PORT=${SERVICE_PORT}
EXPOSE ${SERVICE_PORT}
