// A small YAML emitter: manifests read better as YAML than as JSON.

const PLAIN = /^[A-Za-z0-9_./+=(][A-Za-z0-9_./@+=(),: -]*$/;
const AMBIGUOUS = /^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$/i;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const s = String(value);
  if (
    s === "" ||
    s.endsWith(" ") ||
    !PLAIN.test(s) ||
    AMBIGUOUS.test(s) ||
    s.endsWith(":") ||
    s.includes(": ")
  ) {
    return JSON.stringify(s);
  }
  return s;
}

function isEmpty(value: unknown): boolean {
  return (
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)
  );
}

function emptyForm(value: unknown): string {
  return Array.isArray(value) ? "[]" : "{}";
}

export function toYaml(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value
      .map((item) => {
        if (typeof item === "object" && item !== null && !isEmpty(item)) {
          const body = toYaml(item, `${indent}  `);
          return `${indent}- ${body.slice(indent.length + 2)}`;
        }
        return `${indent}- ${isEmpty(item) ? emptyForm(item) : block(item, indent)}\n`;
      })
      .join("");
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries
      .map(([key, item]) => {
        const k = scalar(key);
        if (typeof item === "object" && item !== null && !isEmpty(item)) {
          return `${indent}${k}:\n${toYaml(item, Array.isArray(item) ? indent : `${indent}  `)}`;
        }
        return `${indent}${k}: ${isEmpty(item) ? emptyForm(item) : block(item, indent)}\n`;
      })
      .join("");
  }
  return `${indent}${scalar(value)}\n`;
}

function block(value: unknown, indent: string): string {
  if (typeof value === "string" && value.includes("\n")) {
    const lines = value.replace(/\n$/, "").split("\n");
    return `|\n${lines.map((l) => `${indent}  ${l}`).join("\n")}`;
  }
  return scalar(value);
}
