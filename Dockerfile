# One image for api, worker and beat; the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY dispatcher dispatcher
COPY channels channels
COPY templates templates
COPY campaigns campaigns
RUN pip install --no-cache-dir . && useradd --system --home /app pulse && mkdir -p /app/outbox && chown pulse /app/outbox
USER pulse
EXPOSE 8000
CMD ["pulse", "run", "--host", "0.0.0.0"]
