// Validate custom resources against the schemas of their CRDs (the validators the @kubernetes-models packages
// generate from cert-manager's and External Secrets' API types). Reads a JSON array of objects on stdin and writes
// a JSON array of {kind, name, known, errors} on stdout: known=false when no package here has the kind's schema.
import * as certManager from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import * as externalSecretsV1 from "@kubernetes-models/external-secrets/external-secrets.io/v1";

const MODELS = {
  "cert-manager.io/v1": certManager,
  "external-secrets.io/v1": externalSecretsV1,
};

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => { data += chunk; });
  process.stdin.on("end", () => resolve(data));
}));

const results = input.map((obj) => {
  const group = MODELS[obj.apiVersion];
  const Model = group && group[obj.kind];
  const name = obj.metadata && obj.metadata.name;
  if (!Model) return { kind: obj.kind, apiVersion: obj.apiVersion, name, known: false, errors: [] };
  try {
    new Model(obj).validate();
    return { kind: obj.kind, apiVersion: obj.apiVersion, name, known: true, errors: [] };
  } catch (error) {
    const details = (error.errors || []).map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`);
    return { kind: obj.kind, apiVersion: obj.apiVersion, name, known: true, errors: details.length ? details : [String(error)] };
  }
});
process.stdout.write(JSON.stringify(results));
