FROM python:3.11-slim
# The inspection PDF's Chinese font (Noto Sans CJK SC, face 2 of the .ttc).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridwatch gridwatch
COPY geodata geodata
COPY telemetry telemetry
COPY alerts alerts
COPY casework casework
COPY layers layers
COPY dashboard dashboard
RUN pip install --no-cache-dir . && useradd -r gridwatch
USER gridwatch
EXPOSE 8050
CMD ["gridwatch", "web"]
