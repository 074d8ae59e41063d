// Loaded between require.js and the ipywidgets manager (embed-amd.js); see _config.yml.
// The manager loads its icon fonts from "wherever RequireJS says its module lives". Unconfigured,
// RequireJS answers "next to the page" (book/principles/@jupyter-widgets/html-manager/dist/),
// where nothing is, and every page with a widget logs 404s. Point the manager's modules (base,
// controls, html-manager, each bundling the same fonts) at the folder that holds the manager and
// its fonts, _static/widgets/, found from this script's own address.
(function () {
  var widgets = new URL("../widgets", document.currentScript.src).href;
  require.config({ paths: { "@jupyter-widgets": widgets, "@jupyter-widgets/html-manager/dist": widgets } });
})();
