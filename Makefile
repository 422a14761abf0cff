# Two set-up commands: `make run` and `make test`. Both bootstrap .venv first.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format proto migrate bench clean superuser demo

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH (or make PY=python3)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

PROTO_OUT := aiproxy/v1/proxy_pb2.py
$(PROTO_OUT): protos/aiproxy/v1/proxy.proto $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/aiproxy/v1/proxy.proto
	touch aiproxy/v1/__init__.py

proto: $(PROTO_OUT)

migrate: $(STAMP) proto
	@mkdir -p data
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py serve

# The gateway in front of a local fake upstream (no provider keys needed), client key aip_demo_key_change_me_0123456789.
demo: migrate
	$(BIN)/python manage.py loadconfig config/demo.yaml
	$(BIN)/python -m tests.fakes.server --port 9999 & FAKE=$$!; trap "kill $$FAKE" EXIT INT TERM; $(BIN)/python manage.py serve

superuser: migrate
	$(BIN)/python manage.py createsuperuser

test: $(STAMP) proto
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) proto
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) proto
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) aiproxy/v1
