app_name = "inference"
urlpatterns: list = []
