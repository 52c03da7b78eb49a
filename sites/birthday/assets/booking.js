// Sticky booking modal shared by the event sites.
console.log("booking modal ready");
