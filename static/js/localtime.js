// Shows each <time datetime="…"> with a time of day in the viewer's own time zone.
//
// The server writes times in UTC and says so ("2025-03-01 14:05 UTC"); this rewrites the
// text once, when the page loads, to the browser's zone ("1 Mar 2025, 15:05 GMT+1") and
// keeps the UTC text as the element's title. Without JavaScript the UTC text stays. No
// timers, no network.
const format = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZoneName: "short",
});

for (const element of document.querySelectorAll("time[datetime]")) {
  const value = element.getAttribute("datetime");
  if (!value.includes("T")) continue; // a date alone has no zone to convert
  const when = new Date(value);
  if (Number.isNaN(when.getTime())) continue;
  if (!element.title) element.title = element.textContent.trim();
  element.textContent = format.format(when);
  element.dataset.local = "true";
}
