{{ most_popular_category('age_group') }}
