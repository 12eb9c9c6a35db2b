FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridwatch gridwatch
COPY geodata geodata
COPY telemetry telemetry
COPY alerts alerts
COPY layers layers
COPY dashboard dashboard
RUN pip install --no-cache-dir . && useradd -r gridwatch
USER gridwatch
EXPOSE 8050
CMD ["gridwatch", "web"]
