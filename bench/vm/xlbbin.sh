# get_xlb_binary DEST [PREBUILT]: put a static xlb at DEST. Uses PREBUILT if given,
# else builds ./cmd/xlb of the work tree; if the tree does not build (work in
# progress), falls back to the last binary that did (DEST.lastgood). Sets XLB_NOTE.
get_xlb_binary() {
	local dest="$1" pre="${2:-}"
	if [ -n "$pre" ]; then
		cp "$pre" "$dest" && XLB_NOTE="prebuilt $pre" && return 0
		return 1
	fi
	if (cd "$REPO" && CGO_ENABLED=0 go build -o "$dest.new" ./cmd/xlb) 2>"$CACHE/xlb-build.log"; then
		mv "$dest.new" "$dest"
		cp "$dest" "$dest.lastgood"
		XLB_NOTE="built from work tree $(cd "$REPO" && git describe --always --dirty 2>/dev/null) at $(date -u +%FT%TZ)"
		echo "$XLB_NOTE" > "$dest.lastgood.note"
		return 0
	fi
	rm -f "$dest.new"
	if [ -x "$dest.lastgood" ]; then
		cp "$dest.lastgood" "$dest"
		XLB_NOTE="work tree does not build; last good binary: $(cat "$dest.lastgood.note" 2>/dev/null)"
		echo "[xlb] $XLB_NOTE" >&2
		return 0
	fi
	echo "[xlb] ./cmd/xlb does not build (see $CACHE/xlb-build.log) and no earlier binary: xlb cases skipped" >&2
	rm -f "$dest"
	return 1
}
