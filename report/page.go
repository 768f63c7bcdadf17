package report

// pageHTML is the report's page: everything inline, nothing fetched.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Repair shop KPIs{{if .Options.From}} from {{.Options.From}}{{end}}{{if .Options.To}} to {{.Options.To}}{{end}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9cfdb; font-size: 13px; }
nav { padding: 12px 28px; background: #fff; border-bottom: 1px solid #dde1e8; position: sticky; top: 0; z-index: 1; }
nav label { font-weight: 600; margin-right: 8px; }
nav a { margin-left: 14px; color: #0b5cad; text-decoration: none; font-size: 13px; }
main { padding: 8px 28px 40px; max-width: 900px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; margin: 18px 0; padding: 14px 18px; }
section h2 { margin: 0; font-size: 18px; }
p.what { margin: 2px 0 10px; color: #5a6275; font-size: 13px; }
p.empty { color: #5a6275; font-style: italic; }
figure { margin: 0; }
svg { width: 100%; height: auto; }
svg text { font-size: 11px; fill: #3b4252; }
svg .axis { stroke: #3b4252; }
svg .grid { stroke: #e4e7ec; }
svg .axis-label { font-size: 12px; font-weight: 600; }
svg .mark:hover { opacity: .75; }
details { margin-top: 6px; }
summary { cursor: pointer; color: #0b5cad; font-size: 13px; }
table { border-collapse: collapse; font-size: 12.5px; margin-top: 6px; }
th, td { border-bottom: 1px solid #e4e7ec; padding: 3px 10px 3px 0; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
footer { color: #5a6275; font-size: 12px; padding: 0 28px 28px; }
</style>
</head>
<body>
<header>
<h1>Repair shop KPIs</h1>
<p>{{if or .Options.From .Options.To}}Period {{if .Options.From}}from {{.Options.From}} {{end}}{{if .Options.To}}to {{.Options.To}}{{end}}(shop-local dates){{else}}All dates{{end}}{{if .Options.Accounts}} · accounts {{range $i, $a := .Options.Accounts}}{{if $i}}, {{end}}{{$a}}{{end}}{{end}} · generated {{.Options.Generated.Format "2006-01-02 15:04 MST"}} · {{.Options.Source}}</p>
</header>
<nav>
<label for="scope">Shop</label>
<select id="scope">{{range .Scopes}}<option value="{{.}}">{{scope .}}</option>{{end}}</select>
{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a>{{end}}
</nav>
<main>
{{range $s := .Sections}}
<section id="{{$s.ID}}">
<h2>{{$s.Title}}</h2>
<p class="what">{{$s.What}} Query: <code>repairshop-export query {{$s.Query}}</code>.</p>
{{range $s.Figures}}
<figure class="chart" data-section="{{$s.ID}}" data-query="{{$s.Query}}" data-scope="{{.Scope}}"{{if .Scope}} hidden{{end}}>
{{.SVG}}
<details{{if not .Rows}} hidden{{end}}><summary>The numbers ({{len .Rows}} rows)</summary>
<table><thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table>
</details>
</figure>
{{end}}
</section>
{{end}}
</main>
<footer>Made by <code>repairshop-export report</code> from the conformed model (main.*). Days and months are each shop's own (its time zone). Money is in each shop's currency, as the source reports it.</footer>
<script>
(function () {
  var sel = document.getElementById('scope');
  function show() {
    var figs = document.querySelectorAll('figure.chart');
    for (var i = 0; i < figs.length; i++) figs[i].hidden = figs[i].getAttribute('data-scope') !== sel.value;
  }
  sel.addEventListener('change', show);
  show();
})();
</script>
</body>
</html>
`
