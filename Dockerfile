# jobgate in a container (App Runner, ECS, Kubernetes): the same CLI as everywhere else.
#   docker build -t jobgate .
#   docker run -p 8080:8080 -e JOBGATE_BACKEND=aws -e ... jobgate            (the API)
#   docker run -e JOBGATE_BACKEND=aws -e ... jobgate worker --health-port 8080  (a worker)
# Your handlers: build FROM this image, COPY your package, set JOBGATE_APP=yourpkg.jobs:app.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# wheels only for what jobgate needs, with the aws extra (boto3); no compilers in the image
RUN pip install --no-cache-dir --no-compile --prefix=/install ".[aws]"

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin jobgate
COPY --from=build /install /usr/local
USER 10001
WORKDIR /home/jobgate
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JOBGATE_HOST=0.0.0.0 \
    JOBGATE_PORT=8080 \
    JOBGATE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["jobgate"]
CMD ["api"]
