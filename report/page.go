package report

// pageHTML is the report's page: everything inline, nothing fetched. The
// cards sit in a grid of columns at least 600 px wide (two on a wide
// screen, one on a phone); each chart panel is a size container that
// shows the chart variant drawn for its width (svg.go), so that chart text
// keeps its size instead of shrinking with the chart.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Repair shop KPIs{{if .Options.From}} from {{.Options.From}}{{end}}{{if .Options.To}} to {{.Options.To}}{{end}}</title>
<style>
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330; background: #f4f5f7; overflow-wrap: anywhere; }
header { background: #1d2330; color: #fff; padding: 16px 24px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9cfdb; font-size: 13px; }
nav { padding: 10px 24px; background: #fff; border-bottom: 1px solid #dde1e8; position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center; gap: 4px 14px; }
nav label { font-weight: 600; }
nav select { font: inherit; padding: 2px 4px; }
nav a { color: #0b5cad; text-decoration: none; font-size: 13px; }
main { padding: 18px 24px 40px; display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 600px), 1fr)); gap: 18px; }
.tiles { grid-column: 1 / -1; }
.tiles .row { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 165px), 1fr)); gap: 12px; }
.tile { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 12px 14px; }
.tile .label { font-size: 13px; color: #5a6275; }
.tile .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; margin: 2px 0; }
.tile .change { font-size: 13px; font-weight: 600; }
.tile .against { font-size: 12px; color: #5a6275; }
.good { color: #0a7a3d; } .bad { color: #b3261e; } .flat { color: #5a6275; }
p.compared { font-size: 12px; color: #5a6275; margin: 8px 0 0; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 14px 16px; min-width: 0; }
section h2 { margin: 0; font-size: 18px; }
p.what { margin: 2px 0 10px; color: #5a6275; font-size: 13px; }
p.empty { color: #5a6275; font-style: italic; }
figure { margin: 0; }
.panel { container-type: inline-size; margin-bottom: 8px; }
.panel h3 { font-size: 13px; margin: 6px 0 2px; color: #3b4252; }
.panel svg { display: block; width: 100%; height: auto; }
@container (min-width: 520px) { .panel svg.narrow { display: none; } }
@container (max-width: 519.98px) { .panel svg.wide { display: none; } }
svg text { font-size: 12px; fill: #3b4252; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
svg .axis { stroke: #3b4252; }
svg .grid { stroke: #e4e7ec; }
svg .axis-label { font-weight: 600; }
svg .mark:hover { opacity: .75; }
details { margin-top: 6px; }
summary { cursor: pointer; color: #0b5cad; font-size: 13px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin-top: 6px; overflow-wrap: normal; }
th, td { border-bottom: 1px solid #e4e7ec; padding: 3px 10px 3px 0; text-align: left; white-space: nowrap; }
footer { color: #5a6275; font-size: 12px; padding: 0 24px 28px; }
@media (max-width: 640px) {
  header, nav, footer { padding-left: 12px; padding-right: 12px; }
  main { padding: 12px 12px 32px; gap: 12px; }
  section { padding: 12px; }
  nav { position: static; }
  nav a { display: none; }
  .tile .value { font-size: 20px; }
}
</style>
</head>
<body>
<header>
<h1>Repair shop KPIs</h1>
<p>{{if or .Options.From .Options.To}}Period {{if .Options.From}}from {{.Options.From}} {{end}}{{if .Options.To}}to {{.Options.To}} {{end}}(shop-local dates){{else}}All dates{{end}}{{if .Options.Accounts}} · accounts {{range $i, $a := .Options.Accounts}}{{if $i}}, {{end}}{{$a}}{{end}}{{end}} · generated {{.Options.Generated.Format "2006-01-02 15:04 MST"}} · {{.Options.Source}}</p>
</header>
<nav>
<label for="scope">Shop</label>
<select id="scope">{{range .Scopes}}<option value="{{.Account}}">{{scope .Account}}</option>{{end}}</select>
{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a>{{end}}
</nav>
<main>
<div class="tiles">
{{range .Scopes}}
<div class="scoped" data-scope="{{.Account}}"{{if .Account}} hidden{{end}}>
<div class="row">
{{range .Tiles}}<div class="tile" data-metric="{{.Metric}}" data-currency="{{.Currency}}" data-current="{{.Current}}" data-previous="{{.Previous}}" data-change="{{.Delta}}" data-change-pct="{{.DeltaPct}}">
<div class="label">{{.Label}}{{if .Currency}} · {{.Currency}}{{end}}</div>
<div class="value">{{.Value}}</div>
{{if .Change}}<div class="change {{.Trend}}">{{.Change}}</div>{{end}}
<div class="against">{{.Against}}</div>
</div>
{{end}}</div>
{{if .Compared}}<p class="compared">{{scope .Account}}. {{.Compared}} Query: <code>repairshop-export query headline</code>.</p>{{end}}
</div>
{{end}}
</div>
{{range $s := .Sections}}
<section id="{{$s.ID}}">
<h2>{{$s.Title}}</h2>
{{range $s.Figures}}
<figure class="chart scoped" data-section="{{$s.ID}}" data-query="{{$s.Query}}" data-scope="{{.Scope}}"{{if .Scope}} hidden{{end}}>
<p class="what">{{.Caption}} Query: <code>repairshop-export query {{$s.Query}}</code>.</p>
{{range .Panels}}<div class="panel">{{if .Subtitle}}<h3>{{.Subtitle}}</h3>{{end}}
{{svg "wide" .Wide}}{{svg "narrow" .Narrow}}
</div>{{else}}<p class="empty">{{.Empty}}</p>{{end}}
<details{{if not .Rows}} hidden{{end}}><summary>The numbers ({{plural (len .Rows) "row" "rows"}})</summary>
<div class="scroll"><table><thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table></div>
</details>
</figure>
{{end}}
</section>
{{end}}
</main>
<footer>Made by <code>repairshop-export report</code> from the conformed model (main.*). Days and months are each shop's own (its time zone). Money is in each shop's currency (its <code>currency</code> key in the config), each currency on its own axis. Each shop keeps its colour in every chart.</footer>
<script>
(function () {
  var sel = document.getElementById('scope');
  function show() {
    var els = document.querySelectorAll('.scoped');
    for (var i = 0; i < els.length; i++) els[i].hidden = els[i].getAttribute('data-scope') !== sel.value;
  }
  sel.addEventListener('change', show);
  show();
})();
</script>
</body>
</html>
`
