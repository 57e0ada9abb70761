// Step modules, loaded the way Pipedream loads a code step: an ES module, evaluated fresh for every run.
// vm.SourceTextModule lets us link `@pipedream/platform` to the local stand-in (pipedream.md "Code steps and
// components": "the harness should resolve that import to a local stand-in") without touching the user's
// file, and gives stack traces that point at the user's own file and line.
import vm from "node:vm";
import { readFileSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as platform from "./platform.mjs";
import * as filters from "./filters.mjs";
import { scaledTimers, scaledTimersPromises } from "./clock.mjs";
import { watchModule } from "./state.mjs";

// what a step gets instead of the real module
const SUBSTITUTES = {
  "@pipedream/platform": platform,
  // the built-in Filter app (builtins/filter) shares the registry comparisons with filter steps
  "@hallsim/filters": filters,
  "node:timers": scaledTimers,
  timers: scaledTimers,
  "node:timers/promises": scaledTimersPromises,
  "timers/promises": scaledTimersPromises,
};

export class ModuleLoadError extends Error {
  constructor(message) {
    super(message);
    this.name = "ModuleLoadError";
  }
}

// V8 code for the modules compiled before, by their exact source, file and line offset. Only code is kept:
// every run still creates and evaluates a new module, so no module state outlives its run.
const compiled = new Map();
const COMPILED_LIMIT = 256;
let compiles = 0;

function remember(key, data) {
  compiled.delete(key);
  compiled.set(key, data);
  if (compiled.size > COMPILED_LIMIT) compiled.delete(compiled.keys().next().value);
}

/** The module's source with a comment of fixed length at its end that differs from one compile to the next.
 * V8 slows down with every module compiled again from the same source and file (Node 20-24: 0.3 ms for the
 * four modules of a gate at first, 4-5 ms after a thousand runs of one worker); the comment keeps lines,
 * columns and behaviour as they were, and its fixed length keeps the cached code above valid for it. */
function freshText(source) {
  compiles += 1;
  return `${source}\n// hallsim ${String(compiles).padStart(12, "0")}`;
}

/** A loader for one run: every module it compiles is new, so no module state outlives the run. */
export function createLoader({ platformModule = null } = {}) {
  const cache = new Map(); // url or specifier -> vm.Module (this run only)

  function synthetic(namespace, identifier) {
    const names = Object.keys(namespace);
    if (!names.includes("default")) names.push("default");
    return new vm.SyntheticModule(
      names,
      function init() {
        for (const name of names) {
          this.setExport(name, name === "default" && !("default" in namespace) ? namespace : namespace[name]);
        }
      },
      { identifier },
    );
  }

  async function resolve(specifier, referrerUrl) {
    if (specifier === "@pipedream/platform" && platformModule) {
      // the real package, from the workflow's own node_modules or setting platform_package
      const url = pathToFileURL(platformModule).href;
      if (!cache.has(url)) {
        const namespace = await import(url);
        watchModule(url, namespace.default);
        cache.set(url, synthetic(namespace, url));
      }
      return cache.get(url);
    }
    if (Object.hasOwn(SUBSTITUTES, specifier)) {
      const id = `hallsim:${specifier}`;
      if (!cache.has(id)) {
        // one object serves every run: a step that changes it retires its worker
        watchModule(id, SUBSTITUTES[specifier].default);
        cache.set(id, synthetic(SUBSTITUTES[specifier], id));
      }
      return cache.get(id);
    }
    if (isBuiltin(specifier)) {
      const id = specifier.startsWith("node:") ? specifier : `node:${specifier}`;
      if (!cache.has(id)) {
        const namespace = await import(id);
        watchModule(id, namespace.default); // a step that patches a built-in retires its worker
        cache.set(id, synthetic(namespace, id));
      }
      return cache.get(id);
    }
    if (specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("/") || specifier.startsWith("file:")) {
      const url = new URL(specifier, referrerUrl).href;
      if (!cache.has(url)) cache.set(url, await compileFile(url));
      return cache.get(url);
    }
    // an npm package: Pipedream installs it on the fly; offline it must already be installed near the workflow
    let resolved;
    try {
      resolved = createRequire(referrerUrl).resolve(specifier);
    } catch {
      throw new ModuleLoadError(
        `Cannot find package '${specifier}' imported from ${displayPath(referrerUrl)}: Pipedream installs npm ` +
          `packages itself; offline, install it next to the workflow (npm install ${specifier})`,
      );
    }
    const url = pathToFileURL(resolved).href;
    if (!cache.has(url)) cache.set(url, synthetic(await import(url), url));
    return cache.get(url);
  }

  const importModuleDynamically = async (specifier, referrer) => {
    const module = await resolve(specifier, referrer.identifier);
    if (module.status === "unlinked") await module.link(linker);
    if (module.status === "linked") await module.evaluate();
    return module;
  };

  function linker(specifier, referrer) {
    return resolve(specifier, referrer.identifier);
  }

  function compile(source, url, lineOffset = 0) {
    const key = `${url}\u0000${lineOffset}\u0000${source}`;
    const cachedData = compiled.get(key);
    let module;
    try {
      module = new vm.SourceTextModule(freshText(source), {
        identifier: url,
        lineOffset,
        cachedData,
        initializeImportMeta(meta) {
          meta.url = url;
        },
        importModuleDynamically,
      });
    } catch (err) {
      if (err instanceof SyntaxError) markSyntaxError(err, source, url, lineOffset);
      throw err;
    }
    if (cachedData === undefined || module.cachedDataRejected) remember(key, module.createCachedData());
    return module;
  }

  function compileFile(url) {
    let source;
    try {
      // read synchronously: a promise-based read leaves its file handle's close pending for a moment, and
      // the end-of-run check would report that close (CloseReq) as work the step left running
      source = readFileSync(fileURLToPath(url), "utf8");
    } catch (err) {
      throw new ModuleLoadError(`cannot read ${displayPath(url)}: ${err.message}`);
    }
    return compile(source, url);
  }

  /** Compile, link and evaluate one step's module; returns its namespace. */
  async function load(step) {
    const url = step.file ? pathToFileURL(step.file).href : pathToFileURL(step.workflow).href;
    const module = compile(step.source, url, step.file ? 0 : step.line_offset ?? 0);
    await module.link(linker);
    await module.evaluate();
    return module.namespace;
  }

  return { load };
}

/** vm.SourceTextModule's SyntaxError carries no position. Say which module failed (its file, and for inline
 * code the workflow file's line offset); hallsim finds the position after the run with `node --check`, outside
 * the execution's time (a check here would block the worker and count against the step's timeout). */
function markSyntaxError(err, source, url, lineOffset) {
  err.hallsimSyntax = { file: displayPath(url), line_offset: lineOffset, source };
}

function displayPath(url) {
  try {
    return fileURLToPath(url);
  } catch {
    return String(url);
  }
}
