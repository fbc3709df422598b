// Lists the endpoints of /openapi.json with their parameters: API docs without any outside script.
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function schemaFields(spec, ref) {
  const name = ref.split("/").pop();
  const schema = (spec.components && spec.components.schemas && spec.components.schemas[name]) || {};
  return Object.entries(schema.properties || {}).map(([k, v]) => `${k}${(schema.required || []).includes(k) ? "" : "?"}`
    + (v.description ? ` — ${v.description}` : ""));
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const box = document.getElementById("endpoints");
  box.replaceChildren();
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const section = el("section", null, "description");
      section.append(el("h3", `${method.toUpperCase()} ${path}`));
      if (op.summary) section.append(el("p", op.summary));
      const params = (op.parameters || []).map((p) => `${p.in} ${p.name}${p.required ? "" : "?"}` +
        (p.description ? ` — ${p.description}` : ""));
      const body = op.requestBody && op.requestBody.content;
      if (body) {
        for (const [type, media] of Object.entries(body)) {
          const ref = media.schema && media.schema.$ref;
          params.push(`body (${type})`);
          if (ref) params.push(...schemaFields(spec, ref).map((f) => "  " + f));
        }
      }
      if (params.length) {
        const list = el("ul");
        params.forEach((p) => list.append(el("li", p)));
        section.append(list);
      }
      box.append(section);
    }
  }
}

main();
