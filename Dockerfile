# otrs-bouncer: gunicorn (gunicorn.conf.py) on 0.0.0.0:8080, SQLite in the /data volume.
#   docker build -t otrs-bouncer .
#   docker run -p 127.0.0.1:8080:8080 -v bouncer-data:/data -e BOUNCER_WEBHOOK_PASSWORD=... otrs-bouncer
# Every other setting is a BOUNCER_* variable (docs/configuration.md); the default mode is dry-run.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Installed from pyproject.toml, as the Makefile does (without the test extras); the running
# code is the installed package, so /app holds only the gunicorn settings.
COPY pyproject.toml README.md app.py /src/
COPY bouncer /src/bouncer
COPY filters /src/filters
RUN python -m pip install --upgrade pip && python -m pip install /src && rm -rf /src
WORKDIR /app
COPY gunicorn.conf.py ./

RUN useradd --system --no-create-home --uid 10001 bouncer && mkdir /data && chown bouncer /data
USER bouncer

ENV BOUNCER_DB_PATH=/data/bouncer.sqlite \
    BOUNCER_BIND=0.0.0.0:8080
VOLUME /data
EXPOSE 8080

# No curl in slim images: Python asks /livez on the port BOUNCER_BIND names.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('BOUNCER_BIND', ':8080').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/livez', timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
