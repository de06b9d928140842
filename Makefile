# omo-edge: `make demo` runs the simulated store, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_OUT ?= sim-output

# The signage player draws Japanese with a CJK font found through fontconfig.
.PHONY: all venv mosquitto fonts rtsp test lint typecheck unit demo clean

all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omo-edge needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# The tests start their own Mosquitto broker; they need the binary.
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's mosquitto (the tests start their own broker)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto openssl; \
	else \
	  echo "mosquitto is missing; install it with:  sudo apt-get install -y mosquitto openssl" >&2; \
	  exit 1; \
	fi
	@# optional: the unit's system call filter is tested with libseccomp's Python binding
	@if /usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-seccomp >/dev/null 2>&1 \
	    || echo "python3-seccomp not installed: the seccomp tests will be skipped"; \
	else \
	  echo "optional: sudo apt-get install -y python3-seccomp (else the seccomp tests skip)"; \
	fi

# The signage tests draw Japanese product cards; pygame's own font has no kana or kanji.
fonts:
	@if command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list :lang=ja file)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's fonts-ipaexfont-gothic (Japanese text on the signage)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    fontconfig fonts-ipaexfont-gothic; \
	else \
	  echo "no Japanese font; install one with:  sudo apt-get install -y fontconfig fonts-ipaexfont-gothic" >&2; \
	  exit 1; \
	fi

# optional: the RTSP camera test serves a stream with GStreamer's gst-rtsp-server
RTSP_PACKAGES := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
rtsp:
	@if /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing GStreamer's RTSP server (the RTSP camera test serves a stream with it)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $(RTSP_PACKAGES) >/dev/null \
	    || echo "gst-rtsp-server not installed: the RTSP camera test will be skipped"; \
	else \
	  echo "optional: sudo apt-get install -y --no-install-recommends $(RTSP_PACKAGES) (else the RTSP camera test skips)"; \
	fi

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

unit: venv mosquitto fonts rtsp
	$(BIN)/python -m pytest -q

test: venv mosquitto fonts rtsp lint typecheck unit

demo: venv
	$(BIN)/omo-edge sim --scenario normal-day --seed 7 --duration 900 --speed max \
	  --out $(DEMO_OUT) --report $(DEMO_OUT)/report.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO_OUT) *.egg-info
