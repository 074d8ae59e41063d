#!/usr/bin/env bash
# Refresh the ipywidgets page manager that the website serves itself (no CDN at reading time).
# Needs npm once, by the maintainer; readers and CI use the committed copy in book/_vendor/.
set -euo pipefail
HTML_MANAGER=1.0.15   # the @jupyter-widgets/html-manager release for ipywidgets 8
REQUIREJS=2.3.8
dest="$(cd "$(dirname "$0")/.." && pwd)/book/_vendor/widgets"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" "requirejs@$REQUIREJS" >/dev/null
mkdir -p hm rjs
tar xzf jupyter-widgets-html-manager-$HTML_MANAGER.tgz -C hm
tar xzf requirejs-$REQUIREJS.tgz -C rjs
rm -rf "$dest"; mkdir -p "$dest"
cp hm/package/dist/embed-amd.js rjs/package/require.js "$dest/"
# Browsers that run the manager all read woff2, so the other font formats stay behind.
cp hm/package/dist/*.woff2 "$dest/"
cat > "$dest/NOTICE" <<NOTE
Vendored, unmodified, by tools/vendor-widgets.sh:
  @jupyter-widgets/html-manager $HTML_MANAGER (dist/embed-amd.js and its woff2 fonts)
    BSD-3-Clause, Copyright (c) Project Jupyter Contributors; fonts: Font Awesome (SIL OFL 1.1)
  requirejs $REQUIREJS (require.js)
    MIT, Copyright jQuery Foundation and other contributors
NOTE
ls -la "$dest"
