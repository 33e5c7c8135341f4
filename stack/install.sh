#!/usr/bin/env bash
# Installs what the local stack needs and is missing: Debian packages (MapServer and lighttpd for
# the map server among them), the CKAN virtualenv, the separate pycsw virtualenv and Solr's jars.
# Idempotent: each step is skipped when a stamp shows its inputs have not changed.
. "$(dirname "$0")/lib.sh"

stamp_ok() {  # stamp_ok NAME INPUT_FILES... : true when the inputs are unchanged
    local name=$1
    shift
    local want
    want=$(cat "$@" | sha256sum | cut -d' ' -f1)
    [ -f "$VAR/stamps/$name" ] && [ "$(cat "$VAR/stamps/$name")" = "$want" ]
}
stamp_set() {
    local name=$1
    shift
    mkdir -p "$VAR/stamps"
    cat "$@" | sha256sum | cut -d' ' -f1 >"$VAR/stamps/$name"
}

# --- Debian packages ------------------------------------------------------------
install_debian() {
    local wanted=(postgresql-15 postgresql-15-postgis-3 redis-server gdal-bin libpq-dev curl
                  ca-certificates procps chromium chromium-driver fonts-dejavu-core
                  mapserver-bin cgi-mapserver lighttpd)
    command -v javac >/dev/null || wanted+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null || wanted+=(maven)
    command -v make >/dev/null || wanted+=(make)
    command -v gcc >/dev/null || wanted+=(build-essential)
    if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import ensurepip, sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
        wanted+=(python3 python3-venv python3-dev)
    fi
    local missing=() pkg
    for pkg in "${wanted[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
        say "installing Debian packages: ${missing[*]}"
        apt-get update -q >"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed: see $LOG_DIR/apt.log"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get install failed: see $LOG_DIR/apt.log"
    fi
    PYTHON=${SINP_PYTHON:-$(command -v python3.11 || command -v python3)}
}

# --- virtualenvs ----------------------------------------------------------------
make_venv() {  # make_venv DIR
    if [ ! -x "$1/bin/python" ]; then
        say "creating virtualenv $1"
        "$PYTHON" -m venv "$1" || die "could not create the virtualenv $1 with $PYTHON"
        "$1/bin/pip" install -q --upgrade "pip<26" >>"$LOG_DIR/pip.log" 2>&1 || true
    fi
}

install_ckan() {
    if stamp_ok ckan-venv "$ROOT/requirements/ckan.txt" "$ROOT/requirements/test.txt" "$ROOT/setup.py" \
        && [ -x "$CKAN_BIN" ]; then
        return 0
    fi
    make_venv "$CKAN_VENV"
    say "installing CKAN 2.12 and its extensions into $CKAN_VENV (log: $LOG_DIR/pip.log)"
    "$CKAN_VENV/bin/pip" install -r "$ROOT/requirements/ckan.txt" -r "$ROOT/requirements/test.txt" \
        >>"$LOG_DIR/pip.log" 2>&1 || die "pip install into the CKAN virtualenv failed: see $LOG_DIR/pip.log"
    # PEP 660 editable install: a finder maps ckanext.sinp to ckanext-sinp/ckanext/sinp
    "$CKAN_VENV/bin/pip" install --no-deps -e "$ROOT" \
        >>"$LOG_DIR/pip.log" 2>&1 || die "installing ckanext-sinp failed: see $LOG_DIR/pip.log"
    "$CKAN_VENV/bin/pip" check >>"$LOG_DIR/pip.log" 2>&1 || warn "pip check reports conflicts: see $LOG_DIR/pip.log"
    stamp_set ckan-venv "$ROOT/requirements/ckan.txt" "$ROOT/requirements/test.txt" "$ROOT/setup.py"
}

install_pycsw() {
    if stamp_ok pycsw-venv "$ROOT/requirements/pycsw.txt" && [ -x "$PYCSW_VENV/bin/gunicorn" ]; then
        return 0
    fi
    make_venv "$PYCSW_VENV"
    say "installing pycsw 2.6.2 into $PYCSW_VENV"
    "$PYCSW_VENV/bin/pip" install -r "$ROOT/requirements/pycsw.txt" >>"$LOG_DIR/pip.log" 2>&1 \
        || die "pip install into the pycsw virtualenv failed: see $LOG_DIR/pip.log"
    stamp_set pycsw-venv "$ROOT/requirements/pycsw.txt"
}

# --- Solr jars and home -----------------------------------------------------------
install_solr() {
    local schema
    schema=$("$CKAN_VENV/bin/python" -c 'import ckan, os; print(os.path.join(os.path.dirname(ckan.__file__), "config", "solr", "schema.xml"))')
    if ! stamp_ok solr-lib "$ROOT/stack/solr/pom.xml" || [ ! -d "$SOLR_DIR/lib" ]; then
        say "fetching Solr 9.10.1 jars from Maven Central (log: $LOG_DIR/maven.log)"
        rm -rf "$SOLR_DIR/lib"
        mvn -B -q -f "$ROOT/stack/solr/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$SOLR_DIR/lib" >"$LOG_DIR/maven.log" 2>&1 \
            || die "Maven could not fetch Solr's jars: see $LOG_DIR/maven.log"
        stamp_set solr-lib "$ROOT/stack/solr/pom.xml"
    fi
    bash "$ROOT/stack/solr/build_home.sh" "$SOLR_DIR/home" "$schema" ckan ckan_test \
        >>"$LOG_DIR/solr-build.log" 2>&1 || die "building the Solr home failed: see $LOG_DIR/solr-build.log"
}

install_debian
install_ckan
install_pycsw
install_solr
say "installation complete"
