FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home kbtc && mkdir -p /data/backups /data/archive && chown -R kbtc /data
USER kbtc
ENV KBTC_DATA_DIR=/data
# collectstatic only needs settings that parse; the real secret comes from the environment.
RUN KBTC_SECRET_KEY=build-only-build-only-build-only-build-only-build-only \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "kbtc_site.asgi:application"]
