# One image for every hpsearch role: `hpsearch serve`, `hpsearch migrate`, `hpsearch worker`.
# Tokens and database URLs come from the environment at run time; none is baked in here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY hpsearch ./hpsearch
COPY worker ./worker
COPY migrations ./migrations
RUN pip install . \
    && useradd --create-home --uid 10001 hpsearch \
    && rm -rf /src

USER hpsearch
WORKDIR /home/hpsearch
EXPOSE 8000
CMD ["hpsearch", "--help"]
