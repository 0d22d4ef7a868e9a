// How the browser shows a moment: as proctor/moments.py does on the server ("Wed 2 Dec 2026, 16:07 UTC"),
// in the time zone the server renders pages in (base.html puts it on <html data-time-zone>), so a time
// written by script reads like every time around it.

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const zone = document.documentElement.dataset.timeZone || "UTC";

/** "Wed 2 Dec 2026, 16:07 UTC", or with the seconds. */
export function momentText(value, { seconds = false } = {}) {
  const date = value instanceof Date ? value : new Date(value);
  const format = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, weekday: "short", day: "numeric", month: "numeric", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
  });
  const part = Object.fromEntries(format.formatToParts(date).map(({ type, value: text }) => [type, text]));
  const time = seconds ? `${part.hour}:${part.minute}:${part.second}` : `${part.hour}:${part.minute}`;
  // Months by number (Intl's en-GB abbreviations differ from Django's: "Sept"), days without the
  // leading zero Intl gives them beside a numeric month.
  return `${part.weekday} ${Number(part.day)} ${MONTHS[Number(part.month) - 1]} ${part.year}, ${time} ${part.timeZoneName}`;
}

/** A <time> element for the moment, as the server's |moment filter writes it. */
export function momentElement(value, options = {}) {
  const date = value instanceof Date ? value : new Date(value);
  const element = document.createElement("time");
  element.dateTime = date.toISOString();
  element.textContent = momentText(date, options);
  return element;
}
