export * from "./cmp.ts";
export * as F from "./functional.ts";
export * from "./modules.ts";
export * from "./torchnn.ts";
