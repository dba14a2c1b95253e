# module/debs.sh — sourced by wabt.sh and font.sh: Debian binary packages fetched with apt under a
# private configuration (nothing under /etc changes): the machine's own mirror, the release asked
# for, signatures checked against Debian's archive keyring; each .deb then checked against the
# SHA-256 pinned in versions.env. The caller defines log().

# deb_download WORK SUITE PKG=VERSION...: the packages' .debs into WORK/debs (WORK: scratch).
deb_download() {
    local work=$1 suite=$2; shift 2
    local codename mirror keyring
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    mirror=$(apt-cache policy |
             awk -v s="$codename/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
    [ -n "$mirror" ] || { log "no Debian mirror for '$codename/main' in apt's sources"; exit 1; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$keyring" ] || { log "missing $keyring (package debian-archive-keyring)"; exit 1; }
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/debs"
    : > "$work/status"
    echo "deb [signed-by=$keyring] $mirror $suite main" > "$work/sources.list"
    local apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list"
                    -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::State::Lists=$work/lists" -o "Dir::State::Status=$work/status"
                    -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1 -o Acquire::Languages=none
                    -o APT::Sandbox::User=root)
    log "apt-get download $* ($suite)"
    apt-get "${apt_opts[@]}" update -qq ||
        { log "apt-get update of $suite from $mirror failed"; exit 1; }
    ( cd "$work/debs" && apt-get "${apt_opts[@]}" download -qq "$@" ) ||
        { log "cannot download $*: the mirror keeps only the current version of each package," \
              "so a pin in module/versions.env may need updating to what 'apt-cache policy'" \
              "of $suite lists (with its new SHA-256)"; exit 1; }
}

# deb_check FILE SHA256: FILE's SHA-256 is the pinned one, or the script stops.
deb_check() {
    local got; got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || { log "$(basename "$1"): sha256 $got, expected $2"; exit 1; }
}

# deb_begin NAME KEY: the stage's directory $dir ($CACHE/NAME-KEY). If it is complete, prints it and
# ends the script; else starts it afresh with scratch space $tmp (removed at exit), and sends
# stdout to stderr (apt's and dpkg's chatter), keeping the real stdout as fd 3 for the result.
deb_begin() {
    dir=$CACHE/$1-$2
    [ -f "$dir/.stamp" ] && { echo "$dir"; exit 0; }
    rm -rf "$dir"
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/.apt.XXXXXX")
    exec 3>&1 1>&2
    trap 'rm -rf "$tmp"' EXIT
}
