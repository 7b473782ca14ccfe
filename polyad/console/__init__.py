"""The web console: its static files live in `static/` (uPlot, the chart library, vendored under
`static/vendor/uplot/` by scripts/vendor-uplot.sh with its licence and version), served by the
agent at `/`. Nothing else yet."""
