import { readFileSync } from "node:fs";
import { randn, Generator } from "../src/index.ts";
const ref = JSON.parse(readFileSync("/work/wt/series/fixtures/torch-backprop.json", "utf8"));
console.log(Array.from(randn([1, 64]).mul(0.1).add(1.0).storage.slice(0, 4)), ref.init.bngain.first8.slice(0, 4));
const g = new Generator();
console.log(Array.from(randn([1, 64], {generator: g}).storage.slice(0, 4)));
