{{ most_popular_category('post_year') }}
