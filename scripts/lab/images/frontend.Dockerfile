# frontend of stacks/federated-imputation.yml: a static page on the nginx lookalike; /api/ goes to
# api-gateway, resolved per request (Docker's DNS) so nginx starts before the gateway exists.
FROM fedgen-lab/nginx:1
COPY index.html /usr/share/nginx/html/index.html
COPY default.conf /etc/nginx/conf.d/default.conf
RUN nginx -t
