"""Services: sessions."""
