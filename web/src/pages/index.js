// Every page of the console, in the order the router tries them. Add one import and one
// entry per page module (each module's default export: { path, title, render }).

export const pages = [];
