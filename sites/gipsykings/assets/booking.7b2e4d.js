document.getElementById("book").addEventListener("click", () => {
  window.location.href = "mailto:bookings@queenofsandiego.com?subject=Gipsy%20Kings%20Concert%20Night";
});
