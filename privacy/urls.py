from __future__ import annotations

from django.urls import path

from privacy import views

urlpatterns = [
    path("my-data/", views.my_data_page, name="my_data"),
    path("my-data/id-photo/", views.my_id_photo, name="my_id_photo"),
    path("my-data/download/", views.my_data_download, name="my_data_download"),
    path("my-data/face-matching/withdraw/", views.face_matching_withdraw, name="face_matching_withdraw"),
    path("privacy/inventory/", views.data_inventory_page, name="data_inventory"),
    path("my-data/identity-profile/delete/", views.identity_profile_delete_page, name="identity_profile_delete"),
]
